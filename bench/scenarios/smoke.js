// smoke: one shopper for a few iterations: does every journey answer within its SLO? (make test)
import { setup, shopper, summaryTrendStats, thresholds } from './lib.js';

export { setup };
export const options = {
  summaryTrendStats,
  thresholds: thresholds(),
  scenarios: {
    smoke: { executor: 'shared-iterations', vus: 1, iterations: parseInt(__ENV.ITERATIONS || '10', 10), maxDuration: '20s' },
  },
};
export default shopper;
