//! AIX backup: the real relic binary against the corpus and bffextract, and the AIX tape -> IRIX dump flagship.
//! (Owned by the aix plugin; empty until that plugin lands.)
