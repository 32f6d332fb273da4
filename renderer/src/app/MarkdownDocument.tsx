import type { ReactNode } from 'react';

type Block =
  | { kind: 'heading'; depth: number; text: string }
  | { kind: 'list'; ordered: boolean; items: string[] }
  | { kind: 'table'; head: string[]; rows: string[][] }
  | { kind: 'paragraph'; text: string };

/** A decision the draft leaves to the organisation: `**[ORGANISATION TO DECIDE: …]**`, highlighted. */
const DECIDE = /^\[ORGANISATION TO DECIDE\b/;

/**
 * The small Markdown the core writes (headings, lists, paragraphs, tables, **bold**, `code`) as a
 * document. Text only ever becomes React text nodes, so nothing in it is interpreted as HTML.
 */
export function MarkdownDocument({ source, topLevel, label }: { source: string; topLevel: 2 | 3; label: string }) {
  return (
    <article className="document" aria-label={label}>
      {parse(source).map((block, i) => {
        if (block.kind === 'heading') {
          const Heading = `h${Math.min(6, topLevel + block.depth - 1)}` as 'h2';
          return <Heading key={i}>{inline(block.text)}</Heading>;
        }
        if (block.kind === 'list') {
          const List = block.ordered ? 'ol' : 'ul';
          return (
            <List key={i}>
              {block.items.map((item, j) => (
                <li key={j}>{inline(item)}</li>
              ))}
            </List>
          );
        }
        if (block.kind === 'table')
          return (
            <table key={i} className="data">
              <thead>
                <tr>
                  {block.head.map((cell, j) => (
                    <th key={j} scope="col">
                      {inline(cell)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {block.rows.map((row, r) => (
                  <tr key={r}>
                    {row.map((cell, j) => (
                      <td key={j}>{inline(cell)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          );
        return <p key={i}>{inline(block.text)}</p>;
      })}
    </article>
  );
}

function parse(source: string): Block[] {
  const blocks: Block[] = [];
  for (const line of source.split(/\r?\n/)) {
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*(?:([-*])|(\d+)[.)])\s+(.*)$/.exec(line);
    const last = blocks.at(-1);
    if (line.startsWith('|')) {
      const cells = line
        .replace(/^\|/, '')
        .replace(/\|\s*$/, '')
        .split('|')
        .map((c) => c.trim());
      if (last?.kind !== 'table') blocks.push({ kind: 'table', head: cells, rows: [] });
      else if (!cells.every((c) => /^:?-+:?$/.test(c))) last.rows.push(cells);
    } else if (heading) blocks.push({ kind: 'heading', depth: heading[1]!.length, text: heading[2]! });
    else if (item) {
      const ordered = item[2] !== undefined;
      if (last?.kind === 'list' && last.ordered === ordered) last.items.push(item[3]!);
      else blocks.push({ kind: 'list', ordered, items: [item[3]!] });
    } else if (!line.trim()) blocks.push({ kind: 'paragraph', text: '' });
    else if (last?.kind === 'paragraph' && last.text) last.text += ` ${line.trim()}`;
    else blocks.push({ kind: 'paragraph', text: line.trim() });
  }
  return blocks.filter((b) => b.kind !== 'paragraph' || b.text);
}

function inline(text: string): ReactNode[] {
  return text.split(/(\*\*[^*]+\*\*|`[^`]+`)/).map((part, i) => {
    if (part.startsWith('**') && part.endsWith('**') && part.length > 4) {
      const text = part.slice(2, -2);
      if (DECIDE.test(text))
        return (
          <mark key={i} className="decide">
            {text}
          </mark>
        );
      return <strong key={i}>{text}</strong>;
    }
    if (part.startsWith('`') && part.endsWith('`') && part.length > 2) return <code key={i}>{part.slice(1, -1)}</code>;
    return part;
  });
}
