// spike: BASE shoppers/s, a sudden PEAK for PEAK_SECONDS, back to BASE: does the shop recover?
import { setup, shopper, summaryTrendStats, thresholds } from './lib.js';

const BASE = parseInt(__ENV.BASE || '10', 10);
const PEAK = parseInt(__ENV.PEAK || '100', 10);
const PEAK_SECONDS = parseInt(__ENV.PEAK_SECONDS || '15', 10);

export { setup };
export const options = {
  summaryTrendStats,
  thresholds: thresholds(),
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: BASE,
      timeUnit: '1s',
      preAllocatedVUs: 50,
      maxVUs: 400,
      stages: [
        { target: BASE, duration: '15s' },
        { target: PEAK, duration: '2s' },
        { target: PEAK, duration: `${PEAK_SECONDS}s` },
        { target: BASE, duration: '2s' },
        { target: BASE, duration: '20s' },
      ],
    },
  },
};
export default shopper;
