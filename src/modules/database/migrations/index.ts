import { ResourceStore1764000000000 } from './1764000000000-ResourceStore.js';
import { SearchIndex1764000000100 } from './1764000000100-SearchIndex.js';

/** Every migration, oldest first. A new schema change is a new class appended here. */
export const MIGRATIONS = [ResourceStore1764000000000, SearchIndex1764000000100];
