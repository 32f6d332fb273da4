/** The part of fontkit (PDFKit's font engine, which ships no types) that Custos uses: which characters a font has. */
declare module 'fontkit' {
  export interface Font {
    hasGlyphForCodePoint(codePoint: number): boolean;
  }
  export function create(buffer: Buffer): Font;
}
