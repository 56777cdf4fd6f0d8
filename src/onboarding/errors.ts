// Onboarding failures that carry a stable reason code (for audit records and the page or line shown).

/** An error whose `reason` is one of a fixed set; `name` is the subclass's. */
export class ReasonError<R extends string> extends Error {
  constructor(
    readonly reason: R,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
