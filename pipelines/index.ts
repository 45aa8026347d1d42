export { fairring } from './fairring.js';
export { local } from './local.js';
export { nccl } from './nccl.js';
