// Stands in for zod's table of locales: the host service's messages are in English, zod's default.
export { default as en } from 'zod/v4/locales/en.js';
