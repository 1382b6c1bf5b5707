//! OpenVMS BACKUP save sets: the real relic binary against the corpus ground truth.
//! (Owned by the vms plugin; empty until that plugin lands.)
