// Shared by the latency probes: each way once untimed, then `rounds` rounds of every way in turn (the devices
// synchronized before each), each way's result (ms for `iterations` iterations) as µs per iteration; prints
// the median (min-max) of the rounds per way, each line prefixed with `label`.
export async function timeWays(ways, { rounds, iterations, sync, label }) {
  const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  for (const f of Object.values(ways)) await f();
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of Object.entries(ways)) {
      await sync();
      times[k].push(((await f()) * 1000) / iterations);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const [k, t] of Object.entries(times)) {
    console.log(`${label} ${k}: ${median(t).toFixed(0)} us per iteration (${Math.min(...t).toFixed(0)}-${Math.max(...t).toFixed(0)})`);
  }
}
