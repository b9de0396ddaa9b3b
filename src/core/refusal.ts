/**
 * The one refusal shape of every surface (commands, clicks, dialogs, mentions, Claude's tools): a
 * sentence the person reads as it is. Decisions return `Outcome`; where a refusal has to unwind a
 * call stack (inside a command's run), it is thrown as a `UserError`, which carries the same Refusal.
 * Each surface turns a Refusal into its reply in one place.
 */
export interface Refusal {
  readonly ok: false;
  readonly reason: string;
}

/** What a decision or an action returns: its result, or why it was refused. */
export type Outcome<T extends object = object> = ({ readonly ok: true } & T) | Refusal;

export function refuse(reason: string): Refusal {
  return { ok: false, reason };
}

/** A refusal thrown from deep inside a command; the surface answers with `refusal.reason`. */
export class UserError extends Error {
  readonly refusal: Refusal;
  constructor(reason: string) {
    super(reason);
    this.name = "UserError";
    this.refusal = refuse(reason);
  }
}
