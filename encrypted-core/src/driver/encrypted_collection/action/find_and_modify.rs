//! The `findAndModify` actions: `find_one_and_update`, `find_one_and_replace`,
//! `find_one_and_delete` (coll-write).
