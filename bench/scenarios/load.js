// load: the expected traffic, RATE shoppers/s (open model) for DURATION.
import { setup, shopper, summaryTrendStats, thresholds } from './lib.js';

export { setup };
export const options = {
  summaryTrendStats,
  thresholds: thresholds(),
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: parseInt(__ENV.RATE || '20', 10),
      timeUnit: '1s',
      duration: __ENV.DURATION || '60s',
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
  },
};
export default shopper;
