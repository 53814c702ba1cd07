/** Injection token of the BulkConfig value. */
export const BULK_CONFIG = Symbol('BULK_CONFIG');
