// `shopfloor bench --compare-clients`: the same FastAPI forwarding hop in front of catalog, once
// with the services' aiohttp client and once with httpx's default transport, measured one after
// the other in ONE k6 run (closed model, VUS virtual users for SECONDS each).
import http from 'k6/http';
import { check } from 'k6';

const AIOHTTP_URL = __ENV.AIOHTTP_URL;
const HTTPX_URL = __ENV.HTTPX_URL;
const SKU = __ENV.SKU;
const VUS = parseInt(__ENV.VUS || '32', 10);
const SECONDS = parseInt(__ENV.SECONDS || '8', 10);

if (!AIOHTTP_URL || !HTTPX_URL || !SKU) {
  throw new Error('set AIOHTTP_URL, HTTPX_URL and SKU (shopfloor bench does)');
}

export const options = {
  discardResponseBodies: true,
  scenarios: {
    aiohttp: { executor: 'constant-vus', exec: 'viaAiohttp', vus: VUS, duration: `${SECONDS}s`, gracefulStop: '3s' },
    httpx: {
      executor: 'constant-vus',
      exec: 'viaHttpx',
      vus: VUS,
      duration: `${SECONDS}s`,
      startTime: `${SECONDS + 4}s`,
      gracefulStop: '3s',
    },
  },
  thresholds: {
    'http_reqs{scenario:aiohttp}': ['count>0'],
    'http_reqs{scenario:httpx}': ['count>0'],
    'http_req_duration{scenario:aiohttp}': ['max>=0'],
    'http_req_duration{scenario:httpx}': ['max>=0'],
    'http_req_failed{scenario:aiohttp}': ['rate<0.01'],
    'http_req_failed{scenario:httpx}': ['rate<0.01'],
  },
};

export function viaAiohttp() {
  check(http.get(`${AIOHTTP_URL}/products/${SKU}`), { 'aiohttp hop 200': (r) => r.status === 200 });
}

export function viaHttpx() {
  check(http.get(`${HTTPX_URL}/products/${SKU}`), { 'httpx hop 200': (r) => r.status === 200 });
}
