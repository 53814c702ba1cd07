import { ResourceStore1764000000000 } from './1764000000000-ResourceStore.js';
import { SearchIndex1764000000100 } from './1764000000100-SearchIndex.js';
import { AuditTrail1764000000200 } from './1764000000200-AuditTrail.js';
import { Authorization1764000000300 } from './1764000000300-Authorization.js';
import { MasterPatientIndex1764000000300 } from './1764000000300-MasterPatientIndex.js';
import { BulkJobs1764000000300 } from './1764000000300-BulkJobs.js';
import { Consent1764000000600 } from './1764000000600-Consent.js';
import { UserOrganization1764000000700 } from './1764000000700-UserOrganization.js';
import { BulkAssociatedData1764000000700 } from './1764000000700-BulkAssociatedData.js';
import { AuditRecordDictionary1764000000800 } from './1764000000800-AuditRecordDictionary.js';
import { ResourceContentJson1764000000900 } from './1764000000900-ResourceContentJson.js';
import { DateSortIndexes1764000001000 } from './1764000001000-DateSortIndexes.js';
import { TokenPatient1764000001100 } from './1764000001100-TokenPatient.js';
import { ConsentGeneration1764000001200 } from './1764000001200-ConsentGeneration.js';
import { TokenCodeStatistics1764000001300 } from './1764000001300-TokenCodeStatistics.js';

/** Every migration, oldest first. A new schema change is a new class appended here. */
export const MIGRATIONS = [ResourceStore1764000000000, SearchIndex1764000000100, AuditTrail1764000000200, Authorization1764000000300, MasterPatientIndex1764000000300, Consent1764000000600, BulkJobs1764000000300, UserOrganization1764000000700, BulkAssociatedData1764000000700, AuditRecordDictionary1764000000800, ResourceContentJson1764000000900, DateSortIndexes1764000001000, TokenPatient1764000001100, ConsentGeneration1764000001200, TokenCodeStatistics1764000001300];
