import { EventEmitter, on } from "node:events";

/** Serving status shared by gRPC health, /readyz and shutdown. */
export class HealthState {
  private serving = true;
  private readonly events = new EventEmitter();

  /** False once shutdown has begun. */
  isServing(): boolean {
    return this.serving;
  }

  /** Marks the process as going away; Watch streams see NOT_SERVING. */
  stopServing(): void {
    if (!this.serving) return;
    this.serving = false;
    this.events.emit("change", false);
  }

  /** Yields the status now and on every change until `signal` aborts. */
  async *watch(signal: AbortSignal): AsyncGenerator<boolean> {
    yield this.serving;
    try {
      for await (const [serving] of on(this.events, "change", { signal })) yield serving as boolean;
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}
