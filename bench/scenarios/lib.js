// Shared by the k6 suite (bench/scenarios/*.js, run by `shopfloor load SCENARIO`): what a shopper
// does, each request tagged with its journey, and the thresholds of those journeys taken from
// observability/generated/k6-thresholds.json (generated from the SLO source, observability/slos.yaml).
import http from 'k6/http';
import { check } from 'k6';

export const BASE_URL = (__ENV.BASE_URL || '').replace(/\/$/, '');
if (!BASE_URL) {
  throw new Error('set BASE_URL (shopfloor load does): the shop, e.g. http://127.0.0.1:8000');
}
const SLO = JSON.parse(open(__ENV.THRESHOLDS_FILE || '../../observability/generated/k6-thresholds.json'));
const JOURNEYS = ['browse-products', 'product-page', 'checkout', 'order-status'];
// A checkout every CHECKOUT_EVERY-th iteration: mostly browsing, as in a shop.
const CHECKOUT_EVERY = parseInt(__ENV.CHECKOUT_EVERY || '10', 10);
const RUN = __ENV.RUN || `${Date.now()}`;

export function thresholds() {
  const picked = {};
  for (const [metric, rules] of Object.entries(SLO.thresholds)) {
    if (JOURNEYS.some((journey) => metric.includes(`{journey:${journey}}`))) {
      picked[metric] = rules;
    }
  }
  return picked;
}

export const summaryTrendStats = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];

export function setup() {
  const page = http.get(`${BASE_URL}/api/products?limit=100`, { tags: { journey: 'browse-products' } });
  check(page, { 'product list 200': (r) => r.status === 200 });
  const items = page.json('items') || [];
  // Checkouts take the products with the most stock, so a long run does not sell out.
  const byStock = [...items].sort((a, b) => b.stock - a.stock);
  return {
    skus: items.map((item) => item.sku),
    images: items.filter((item) => item.image_url).map((item) => item.image_url),
    checkoutSkus: byStock.slice(0, 3).map((item) => item.sku),
  };
}

export function shopper(data) {
  const n = __VU * 7919 + __ITER;
  const list = http.get(`${BASE_URL}/api/products?limit=20`, { tags: { journey: 'browse-products' } });
  check(list, { 'list 200': (r) => r.status === 200 });
  if (data.skus.length === 0) {
    return;
  }
  const sku = data.skus[n % data.skus.length];
  const product = http.get(`${BASE_URL}/api/products/${sku}`, { tags: { journey: 'product-page' } });
  check(product, { 'product 200': (r) => r.status === 200 });
  if (data.images.length > 0) {
    const image = http.get(`${BASE_URL}${data.images[n % data.images.length]}`, {
      tags: { journey: 'product-page' },
    });
    check(image, { 'image 200': (r) => r.status === 200 });
  }
  if (n % CHECKOUT_EVERY === 0 && data.checkoutSkus.length > 0) {
    const order = http.post(
      `${BASE_URL}/api/orders`,
      JSON.stringify({
        items: [{ sku: data.checkoutSkus[n % data.checkoutSkus.length], quantity: 1 }],
        customer: { name: 'Load Test', email: 'load@example.com' },
      }),
      {
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': `load-${RUN}-${__VU}-${__ITER}` },
        tags: { journey: 'checkout' },
        responseCallback: http.expectedStatuses(201, 409), // 409: sold out is an answer, not a failure
      },
    );
    if (order.status === 201) {
      const status = http.get(`${BASE_URL}/api/orders/${order.json('id')}`, { tags: { journey: 'order-status' } });
      check(status, { 'order status 200': (r) => r.status === 200 });
    }
  }
}
