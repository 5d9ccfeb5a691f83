// The mixed benchmark that `shopfloor bench` (make bench) runs last: a shop that browses while it sells.
//
//   browse      open model, READ_RATE iterations/s for SECONDS through the gateway: a shopper's read,
//               in turn the product list, a product page, or that product's picture
//   checkout    open model, CHECKOUT_RATE orders/s alongside: POST /api/orders of one unit of one of
//               CHECKOUT_SKUS in turn, each with a fresh Idempotency-Key
//
// The figures: p99 of http_req_duration{scenario:browse} (target 25 ms), of {scenario:checkout}
// (target 250 ms), and failed requests (target 0). The catalog's product-read hit ratio during the
// run is read from its /metrics by the bench (catalog_product_reads_total) before and after.
import http from 'k6/http';
import { check } from 'k6';

const GATEWAY_URL = __ENV.GATEWAY_URL;
const SKUS = (__ENV.SKUS || '').split(',').filter((s) => s);
const IMAGES = (__ENV.IMAGES || '').split(',').filter((s) => s);
// Checkouts take products with stock for the whole run (the bench's), so none is REJECTED.
const CHECKOUT_SKUS = (__ENV.CHECKOUT_SKUS || __ENV.SKUS || '').split(',').filter((s) => s);
const READ_RATE = parseInt(__ENV.READ_RATE || '200', 10);
const CHECKOUT_RATE = parseInt(__ENV.CHECKOUT_RATE || '20', 10);
const SECONDS = parseInt(__ENV.SECONDS || '20', 10);
const RUN = __ENV.RUN || `${Date.now()}`;

if (!GATEWAY_URL || SKUS.length === 0) {
  throw new Error('set GATEWAY_URL and SKUS (shopfloor bench does)');
}

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  scenarios: {
    browse: {
      executor: 'constant-arrival-rate',
      exec: 'browse',
      rate: READ_RATE,
      timeUnit: '1s',
      duration: `${SECONDS}s`,
      preAllocatedVUs: 40,
      maxVUs: 200,
    },
    checkout: {
      executor: 'constant-arrival-rate',
      exec: 'checkout',
      rate: CHECKOUT_RATE,
      timeUnit: '1s',
      duration: `${SECONDS}s`,
      preAllocatedVUs: 20,
      maxVUs: 100,
    },
  },
  thresholds: {
    'http_reqs{scenario:browse}': ['count>0'],
    'http_reqs{scenario:checkout}': ['count>0'],
    'http_req_failed{scenario:browse}': ['rate<=0'],
    'http_req_failed{scenario:checkout}': ['rate<=0'],
    'http_req_duration{scenario:browse}': ['p(99)<25'],
    'http_req_duration{scenario:checkout}': ['p(99)<250'],
    'checks{scenario:checkout}': ['rate>0.99'],
    dropped_iterations: ['count>=0'],
  },
};

export function browse() {
  const n = __ITER + __VU;
  const sku = SKUS[n % SKUS.length];
  const kind = n % 3;
  if (kind === 0) {
    http.get(`${GATEWAY_URL}/api/products?limit=20&offset=${20 * (n % 2)}`);
  } else if (kind === 1 || IMAGES.length === 0) {
    http.get(`${GATEWAY_URL}/api/products/${sku}`);
  } else {
    http.get(`${GATEWAY_URL}${IMAGES[n % IMAGES.length]}`);
  }
}

export function checkout() {
  const sku = CHECKOUT_SKUS[(__VU * 7 + __ITER) % CHECKOUT_SKUS.length];
  const body = JSON.stringify({
    items: [{ sku, quantity: 1 }],
    customer: { name: 'Bench Customer', email: 'bench@example.com' },
  });
  const response = http.post(`${GATEWAY_URL}/api/orders`, body, {
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': `mixed-${RUN}-${__VU}-${__ITER}` },
  });
  check(response, { 'checkout 201': (r) => r.status === 201 });
}
