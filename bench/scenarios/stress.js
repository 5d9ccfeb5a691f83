// stress: the arrival rate climbs in STEPS equal steps from START to MAX shoppers/s, STEP_SECONDS each.
// `shopfloor load stress` finds the knee: the rate of the first step whose p99 crosses the SLO.
import { setup, shopper, summaryTrendStats, thresholds } from './lib.js';

const START = parseInt(__ENV.START || '10', 10);
const MAX = parseInt(__ENV.MAX || '120', 10);
const STEPS = parseInt(__ENV.STEPS || '6', 10);
const STEP_SECONDS = parseInt(__ENV.STEP_SECONDS || '15', 10);
const stages = [];
for (let i = 0; i < STEPS; i += 1) {
  const rate = Math.round(START + ((MAX - START) * i) / Math.max(1, STEPS - 1));
  stages.push({ target: rate, duration: '1s' }, { target: rate, duration: `${STEP_SECONDS - 1}s` });
}

export { setup };
export const options = {
  summaryTrendStats,
  // Thresholds are reported, never abort: finding where they break is the point of a stress run.
  thresholds: thresholds(),
  scenarios: {
    stress: {
      executor: 'ramping-arrival-rate',
      startRate: START,
      timeUnit: '1s',
      preAllocatedVUs: 50,
      maxVUs: 400,
      stages,
    },
  },
};
export default shopper;
