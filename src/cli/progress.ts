import cliProgress from "cli-progress";

/**
 * Progress of an experiment on standard error: a bar with rate and ETA on a terminal
 * (cli-progress), otherwise a quiet line every tenth of the way, so a log or a CI run gets a
 * dozen lines, not thousands.
 */
export type ProgressMode = "auto" | "bar" | "lines" | "none";
export const PROGRESS_MODES: readonly ProgressMode[] = ["auto", "bar", "lines", "none"];

export interface Progress {
  /** `done` more runs finished. */
  tick(done?: number): void;
  /** Ends the bar; prints the closing line (runs, time, rate) unless `quiet`. */
  stop(closing?: string): void;
  /** One line the user must see whatever the mode (the bar redraws below it). */
  note(text: string): void;
}

export function startProgress(mode: ProgressMode, total: number, already: number, label: string): Progress {
  const stream = process.stderr;
  const chosen = mode === "auto" ? (stream.isTTY ? "bar" : "lines") : mode;
  const t0 = performance.now();
  let done = already;
  const rate = (): number => (done - already) / Math.max((performance.now() - t0) / 1000, 1e-3);
  const eta = (): string => {
    const r = rate();
    return r > 0 ? formatSeconds((total - done) / r) : "?";
  };
  // On a terminal the bar's line is cleared first, and the bar's next update draws it again below.
  const note = (text: string): void => void stream.write(`${chosen === "bar" ? "\r\x1b[K" : ""}machbus: ${text}\n`);
  const closing = (text: string | undefined): void => {
    if (mode === "none" || text === undefined) return;
    stream.write(`machbus: ${text}\n`);
  };
  if (chosen === "bar") {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} {bar} {percentage}% | {value}/{total} runs | {rate} runs/s | ETA {myEta}`,
        stream,
        hideCursor: true,
        noTTYOutput: !stream.isTTY,
        notTTYSchedule: 1000,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, done, { rate: "0.0", myEta: "?" });
    return {
      tick(n = 1) {
        done += n;
        bar.update(done, { rate: rate().toFixed(1), myEta: eta() });
      },
      stop(text) {
        bar.stop();
        closing(text);
      },
      note,
    };
  }
  let nextStep = Math.floor((done / Math.max(total, 1)) * 10) + 1;
  return {
    tick(n = 1) {
      done += n;
      if (chosen !== "lines" || total === 0) return;
      const step = Math.floor((done / total) * 10);
      if (step < nextStep || done === total) return;
      nextStep = step + 1;
      stream.write(
        `machbus: ${label}: ${done}/${total} runs (${Math.floor((done / total) * 100)}%), ${rate().toFixed(1)} runs/s, ETA ${eta()}\n`,
      );
    },
    stop(text) {
      closing(text);
    },
    note,
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
