// soak: a steady RATE shoppers/s for DURATION (default 10m, `shopfloor load` caps it at 2h): leaks,
// pool exhaustion, growing latency.
import { setup, shopper, summaryTrendStats, thresholds } from './lib.js';

export { setup };
export const options = {
  summaryTrendStats,
  thresholds: thresholds(),
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: parseInt(__ENV.RATE || '10', 10),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10m',
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
  },
};
export default shopper;
