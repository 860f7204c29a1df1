//! Credentials: scrypt password hashes ([`password`]) and signed tokens
//! ([`jwt`]). Neither module touches HTTP or the database.

pub mod jwt;
pub mod limits;
pub mod password;
