//! IRIX dump and 4.4BSD/Linux dump: the real relic binary against Debian's dump/restore.
//! (Owned by the dump plugin; empty until that plugin lands.)
