import { ResourceStore1764000000000 } from './1764000000000-ResourceStore.js';

/** Every migration, oldest first. A new schema change is a new class appended here. */
export const MIGRATIONS = [ResourceStore1764000000000];
