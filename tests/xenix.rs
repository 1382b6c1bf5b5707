//! XENIX backup (and the V7 dump family): the real relic binary against independent fixtures.
//! (Owned by the xenix plugin; empty until that plugin lands.)
