-- Nothing reads attempts by time alone, and every pushed attempt paid for this index: drop it.
DROP INDEX attempts_by_time;
