import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";

/** Source files as plain text keyed by their path from the repository root ("src/core/feature.ts"). */
export type SourceTree = Map<string, string>;

export const ROOT = join(dirname(new URL(import.meta.url).pathname), "..", "..");

/** Every .ts file under the given top folders, read from disk. */
export function readTree(...folders: string[]): SourceTree {
  const tree: SourceTree = new Map();
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) tree.set(path, readFileSync(join(ROOT, path), "utf8"));
    }
  };
  for (const folder of folders) walk(folder);
  return tree;
}

export interface ImportClause {
  /** The module specifier as written ("./store.js", "@slack/bolt"). */
  specifier: string;
  /** The file it names, from the repository root, for relative specifiers (".js" read as ".ts"); undefined for packages. */
  target: string | undefined;
  /** Names taken from it (`a`, `b` in `import { a, b as c }`); "*" for a namespace import. */
  names: string[];
}

// Static imports and re-exports; the clause may span lines. Side-effect imports (`import "x"`) have no names.
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?([\s\S]*?)\s+from\s+["']([^"']+)["']/g;
const SIDE_EFFECT = /(?:^|\n)\s*import\s+["']([^"']+)["']/g;

/** The imports of one file. Pure. */
export function importsOf(path: string, text: string): ImportClause[] {
  const clauses: ImportClause[] = [];
  const resolve = (specifier: string) => (specifier.startsWith(".") ? posix.normalize(posix.join(posix.dirname(path), specifier)).replace(/\.js$/, ".ts") : undefined);
  for (const match of text.matchAll(IMPORT)) {
    const clause = match[2] ?? "";
    const specifier = match[3] ?? "";
    if (/^(?:const|let|var|function|class|interface|enum|async|default)\b/.test(clause)) continue;
    const names: string[] = [];
    if (/\*/.test(clause)) names.push("*");
    const braces = /\{([\s\S]*)\}/.exec(clause);
    for (const part of (braces?.[1] ?? "").split(",")) {
      const name = part
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)[0]
        ?.trim();
      if (name) names.push(name);
    }
    clauses.push({ specifier, target: resolve(specifier), names });
  }
  for (const match of text.matchAll(SIDE_EFFECT)) clauses.push({ specifier: match[1] ?? "", target: resolve(match[1] ?? ""), names: [] });
  return clauses;
}

const DECLARED = /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|class|abstract\s+class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;
/** An `export { … }` list, of the file's own names or re-exported `from` another file (a feature's index.ts). */
const LISTED = /^export\s+(?:type\s+)?\{([^}]*)\}\s*(?:from\s+["'][^"']+["']\s*)?;/gm;

/** The names a file exports by declaration or by an `export { … }` list, re-exports included (as they are named here). Pure. */
export function exportsOf(text: string): string[] {
  const names = [...text.matchAll(DECLARED)].map((m) => m[1] ?? "");
  for (const match of text.matchAll(LISTED)) {
    for (const part of (match[1] ?? "").split(",")) {
      const name = part
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .at(-1)
        ?.trim();
      if (name) names.push(name);
    }
  }
  return names.filter(Boolean);
}
