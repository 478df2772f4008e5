/**
 * A progress bar on stderr with items/s and ETA, over npm `cli-progress`.
 *
 *   const bar = startProgress(tensors.length, "tensors");
 *   for (...) { work(); bar.tick("model.layers.0.q_proj"); }
 *   bar.stop();
 *
 * It draws only when the stream is a TTY; redirected to a file or a pipe (CI,
 * tests, `2> log`) it writes nothing, so logs stay clean.
 */
import { SingleBar } from "cli-progress";

export interface Progress {
  /** Counts `n` more items done (default 1); `label` names the last one. */
  tick(label?: string, n?: number): void;
  /** Removes the bar (safe to call twice). */
  stop(): void;
}

export interface ProgressOptions {
  /** default process.stderr */
  readonly stream?: NodeJS.WriteStream;
}

const QUIET: Progress = { tick: () => {}, stop: () => {} };

export function startProgress(
  total: number,
  unit: string,
  options: ProgressOptions = {},
): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY || total <= 0) return QUIET;
  const started = Date.now();
  const bar = new SingleBar({
    stream,
    format: `{bar} {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted} | {label}`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 20,
  });
  const payload = (label: string, value: number) => {
    const seconds = (Date.now() - started) / 1000;
    return { label, rate: seconds > 0 ? (value / seconds).toFixed(1) : "-" };
  };
  let value = 0;
  let stopped = false;
  bar.start(total, 0, payload("", 0));
  return {
    tick(label = "", n = 1) {
      if (stopped) return;
      value += n;
      bar.update(value, payload(label, value));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
