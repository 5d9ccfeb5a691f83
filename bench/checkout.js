// The checkout benchmark that `shopfloor bench` (make bench) runs after the product read one:
//
//   checkout    closed model, VUS virtual users for SECONDS: POST GATEWAY_URL/api/orders, one unit of SKU,
//               each iteration with a fresh Idempotency-Key (so each is a new order, not a replay).
//               With SKUS (comma-separated) instead of SKU, each order takes one of them in turn
//               (the spread-sku scenario: orders over many products, no one hot row).
//
// Orders per second = http_reqs{scenario:checkout} count / SECONDS; the latency figure is the p99 of
// http_req_duration{scenario:checkout}. A checkout is good when it answers 201 (CONFIRMED: the
// product has a large stock, so nothing is REJECTED); a 202 (PENDING) counts as failed, since it
// means catalog did not answer in time. The thresholds exist so the summary export carries the
// per-scenario sub-metrics (k6 exports only sub-metrics that a threshold names).
import http from 'k6/http';
import { check } from 'k6';

const GATEWAY_URL = __ENV.GATEWAY_URL;
const SKUS = (__ENV.SKUS || __ENV.SKU || '').split(',').filter((s) => s);
const VUS = parseInt(__ENV.VUS || '16', 10);
const SECONDS = parseInt(__ENV.SECONDS || '15', 10);
const RUN = __ENV.RUN || `${Date.now()}`; // keeps keys unique across runs on the same database

if (!GATEWAY_URL || SKUS.length === 0) {
  throw new Error('set GATEWAY_URL and SKU or SKUS (shopfloor bench does)');
}

const BODIES = SKUS.map((sku) =>
  JSON.stringify({
    items: [{ sku, quantity: 1 }],
    customer: { name: 'Bench Customer', email: 'bench@example.com' },
  }),
);

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  scenarios: {
    checkout: {
      executor: 'constant-vus',
      exec: 'checkout',
      vus: VUS,
      duration: `${SECONDS}s`,
      gracefulStop: '5s',
    },
  },
  thresholds: {
    'http_reqs{scenario:checkout}': ['count>0'],
    'http_req_failed{scenario:checkout}': ['rate<0.01'],
    'http_req_duration{scenario:checkout}': ['max>=0'],
    'checks{scenario:checkout}': ['rate>0.99'],
  },
};

export function checkout() {
  const body = BODIES[(__VU * 7 + __ITER) % BODIES.length];
  const response = http.post(`${GATEWAY_URL}/api/orders`, body, {
    headers: {
      'Content-Type': 'application/json',
      'Idempotency-Key': `bench-${RUN}-${__VU}-${__ITER}`,
    },
  });
  check(response, { 'checkout 201': (r) => r.status === 201 });
}
