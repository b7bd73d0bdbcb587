//! Offline address book generation (the System Attendant's OAB generator): the files of
//! [MS-OXOAB] — version 4 Full Details, its compressed container and differential patch —
//! built from the address list the generator read from a global catalog.

pub mod compressed_file;
pub mod crc;
pub mod full_details;
pub mod lzx;
pub mod patch_file;
