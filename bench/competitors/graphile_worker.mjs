// graphile-worker for the bench (runs with bench/.work/node/node_modules).
// Task `noop`; with payload {"r": 1} it prints `S <job id> <epoch seconds>` at handler start.
// Usage: node graphile_worker.mjs <dsn> <concurrency> [localQueueSize] | node graphile_worker.mjs <dsn> --setup
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const nodeDir = process.env.BENCH_NODE_DIR;
const require = createRequire(pathToFileURL(nodeDir + "/package.json"));
const { Logger, run, runMigrations } = await import(pathToFileURL(require.resolve("graphile-worker")).href);

const [dsn, second, third] = process.argv.slice(2);
if (second === "--setup") {
  await runMigrations({ connectionString: dsn });
  process.exit(0);
}
const concurrency = Number(second || 1);
const localQueueSize = Number(third || 0);
const worker = localQueueSize > 0 ? { localQueue: { size: localQueueSize }, completeJobBatchDelay: 0 } : {};
const runner = await run({
  connectionString: dsn,
  concurrency,
  noHandleSignals: false,
  // Warnings and errors only: per-job info lines would cost it throughput that users turn off too.
  logger: new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") console.error(message);
  }),
  preset: { worker },
  taskList: {
    noop: async (payload, helpers) => {
      if (payload && payload.r) {
        const started = (performance.timeOrigin + performance.now()) / 1000;
        process.stdout.write(`S ${helpers.job.id} ${started.toFixed(6)}\n`);
      }
    },
  },
});
await runner.promise;
