/** Runs one fresh process and returns the JSON object on the last line of its stdout, and its whole wall time. */
import { spawn } from "node:child_process";

export interface Spawned<T> {
  /** From spawn() to the exit event, as the parent saw it: interpreter start-up, imports, the work, exit. */
  wallMs: number;
  out: T;
}

export function runProcess<T>(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Spawned<T>> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      const wallMs = performance.now() - t0;
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8").trimEnd();
      if (code !== 0) {
        const tail = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-15).join("\n");
        reject(new Error(`${cmd} ${args.slice(0, 3).join(" ")} … exited with ${code ?? signal}:\n${tail}`));
        return;
      }
      const last = stdout.slice(stdout.lastIndexOf("\n") + 1);
      try {
        resolve({ wallMs, out: JSON.parse(last) as T });
      } catch {
        reject(new Error(`${cmd}: no JSON result on the last line of stdout: ${last.slice(0, 200)}`));
      }
    });
  });
}
