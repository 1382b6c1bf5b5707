//! OCFS2 o2image: the real relic binary against debugfs.ocfs2.
//! (Owned by the o2image plugin; empty until that plugin lands.)
