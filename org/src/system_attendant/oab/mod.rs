//! Offline address book generation (the System Attendant's OALGen, EXCHANGE2003.md §9):
//! the files of [MS-OXOAB] — version 4 Full Details, its compressed container and
//! differential patch; the version 2/3a browse, index, details and template files and
//! their Changes file — built from the address list the generator read from a global
//! catalog, with the diff rules of each server version.

pub mod address_entry;
pub mod changes_file;
pub mod compressed_file;
pub mod crc;
pub mod distribution;
pub mod full_details;
pub mod legacy_files;
pub mod lzx;
pub mod oal_generator;
pub mod patch_file;
pub mod property_limits;

#[cfg(test)]
mod tests;
