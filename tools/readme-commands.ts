/** One shell command shown in a Markdown file's ```sh block. */
export interface ReadmeCommand {
  text: string;
  /** 1-based line of the block's first line in the Markdown file. */
  line: number;
}

/**
 * The commands of every ```sh block: continuation lines joined, end-of-line comments dropped, and
 * `a && b` split into its commands.
 */
export function readmeCommands(markdown: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  const lines = markdown.split('\n');
  let inBlock = false;
  let pending = '';
  let pendingLine = 0;
  lines.forEach((raw, index) => {
    if (/^```/.test(raw)) {
      inBlock = !inBlock && /^```(sh|bash|shell)\s*$/.test(raw);
      return;
    }
    if (!inBlock) return;
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (pending === '') pendingLine = index + 1;
    if (line.trimEnd().endsWith('\\')) {
      pending += `${line.trimEnd().slice(0, -1).trim()} `;
      return;
    }
    // Shell control around commands (a `for … do … done` loop, a trailing `&`) is not a command.
    const text = `${pending}${line.trim()}`.trim().replace(/\s*&$/, '');
    pending = '';
    if (text === '' || /^(for|do|done|while|if|then|fi)\b/.test(text)) return;
    for (const part of text.split('&&')) {
      const command = part.trim().replace(/\s+/g, ' ');
      if (command !== '') commands.push({ text: command, line: pendingLine });
    }
  });
  return commands;
}

/** A command of the form `npx [--yes] pnpm[@version] [--silent] [--filter X] <script> [args]`. */
export function splitPnpmCommand(
  command: string,
): { pnpm: string | undefined; filter: string | undefined; script: string; args: string[] } | undefined {
  const words = command.split(' ');
  if (words.shift() !== 'npx') return undefined;
  if (words[0] === '--yes') words.shift();
  const pnpm = /^pnpm(?:@(.+))?$/.exec(words.shift() ?? '');
  if (!pnpm) return undefined;
  let filter: string | undefined;
  while (words[0]?.startsWith('-')) {
    const flag = words.shift();
    if (flag === '--filter' || flag === '-F') filter = words.shift();
  }
  const script = words.shift();
  if (script === undefined) return undefined;
  return { pnpm: pnpm[1], filter, script, args: words };
}
