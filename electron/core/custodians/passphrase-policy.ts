/**
 * A custodian's passphrase guards their share of the token PIN, so it must resist an offline
 * guess against a stolen database even with scrypt in the way. Rules a person can follow
 * under pressure, each with the sentence that explains it.
 */
const COMMON = ['password', 'passphrase', 'custos', 'qwerty', '123456', 'letmein', 'welcome', 'admin', 'secret', 'changeme'];

export function passphraseProblems(passphrase: string, name: string): string[] {
  const problems: string[] = [];
  const lower = passphrase.toLowerCase();
  const words = passphrase.trim().split(/\s+/).filter((w) => w.length >= 3);
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9\s]/].filter((re) => re.test(passphrase)).length;
  if (passphrase.length < 12) problems.push('Use at least 12 characters — four or more unrelated words work well.');
  else if (passphrase.length < 20 && words.length < 4 && classes < 3) {
    problems.push('Make it longer (20 characters or four unrelated words), or mix upper and lower case, digits and symbols.');
  }
  if (COMMON.some((word) => lower.includes(word))) problems.push('Avoid common words such as “password” or “custos”.');
  const first = name.trim().toLowerCase().split(/\s+/)[0] ?? '';
  if (first.length >= 3 && lower.includes(first)) problems.push('Do not put your own name in it.');
  if (/(.)\1{3,}/.test(passphrase)) problems.push('Avoid repeating the same character.');
  if (passphrase.length > 1024) problems.push('Keep it under 1,024 characters.');
  return problems;
}
