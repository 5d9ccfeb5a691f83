// The product read benchmark that `shopfloor bench` (make bench) runs: three scenarios in ONE k6
// run, one after the other, so their figures are measured side by side on the same machine state.
//
//   direct      closed model, VUS virtual users for THROUGHPUT_SECONDS: GET catalog /products/{sku}
//   gateway     the same through the gateway: GET /api/products/{sku}
//   latency     open model, RATE requests/s for LATENCY_SECONDS through the gateway (cached read)
//
// Throughput ratio = gateway / direct request counts; the latency figure is the p99 of
// http_req_duration{scenario:latency}. The thresholds exist so the summary export carries the
// per-scenario sub-metrics (k6 exports only sub-metrics that a threshold names); the p99 target is
// a real threshold, so k6 exits 99 when it is missed.
import http from 'k6/http';
import { check } from 'k6';

const DIRECT_URL = __ENV.DIRECT_URL;
const GATEWAY_URL = __ENV.GATEWAY_URL;
const SKU = __ENV.SKU;
const VUS = parseInt(__ENV.VUS || '32', 10);
const THROUGHPUT_SECONDS = parseInt(__ENV.THROUGHPUT_SECONDS || '15', 10);
const RATE = parseInt(__ENV.RATE || '200', 10);
const LATENCY_SECONDS = parseInt(__ENV.LATENCY_SECONDS || '20', 10);
const P99_TARGET_MS = parseFloat(__ENV.P99_TARGET_MS || '25');
const GAP_SECONDS = 2; // lets the previous scenario's connections wind down before the next starts

if (!DIRECT_URL || !GATEWAY_URL || !SKU) {
  throw new Error('set DIRECT_URL, GATEWAY_URL and SKU (shopfloor bench does)');
}

const throughputEnd = THROUGHPUT_SECONDS + GAP_SECONDS;

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  scenarios: {
    direct: {
      executor: 'constant-vus',
      exec: 'direct',
      vus: VUS,
      duration: `${THROUGHPUT_SECONDS}s`,
      gracefulStop: '1s',
    },
    gateway: {
      executor: 'constant-vus',
      exec: 'gateway',
      vus: VUS,
      duration: `${THROUGHPUT_SECONDS}s`,
      startTime: `${throughputEnd}s`,
      gracefulStop: '1s',
    },
    latency: {
      executor: 'constant-arrival-rate',
      exec: 'gateway',
      rate: RATE,
      timeUnit: '1s',
      duration: `${LATENCY_SECONDS}s`,
      preAllocatedVUs: 20,
      maxVUs: 100,
      startTime: `${2 * throughputEnd}s`,
      gracefulStop: '2s',
    },
  },
  thresholds: {
    'http_reqs{scenario:direct}': ['count>0'],
    'http_reqs{scenario:gateway}': ['count>0'],
    'http_reqs{scenario:latency}': ['count>0'],
    'http_req_failed{scenario:direct}': ['rate<0.01'],
    'http_req_failed{scenario:gateway}': ['rate<0.01'],
    'http_req_failed{scenario:latency}': ['rate<0.01'],
    'http_req_duration{scenario:direct}': ['max>=0'],
    'http_req_duration{scenario:gateway}': ['max>=0'],
    'http_req_duration{scenario:latency}': [`p(99)<${P99_TARGET_MS}`],
    'dropped_iterations': ['count>=0'],
  },
};

export function direct() {
  const response = http.get(`${DIRECT_URL}/products/${SKU}`);
  check(response, { 'direct 200': (r) => r.status === 200 });
}

export function gateway() {
  const response = http.get(`${GATEWAY_URL}/api/products/${SKU}`);
  check(response, { 'gateway 200': (r) => r.status === 200 });
}
