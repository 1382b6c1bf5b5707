/*
 * offsets.c: prints offsetof() of every OCFS2 on-disk field the o2image plugin reads, from
 * the ocfs2-tools headers (Debian ocfs2-tools-dev 1.8.7). The tables in src/layout.rs and
 * src/image.rs were checked against its output, because several offset comments inside
 * ocfs2_fs.h are wrong (e.g. ocfs2_dir_block_trailer's db_blkno/db_check).
 *
 *   apt-get install ocfs2-tools-dev && gcc -o offsets offsets.c && ./offsets
 */
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <string.h>
#include <errno.h>
#include <linux/types.h>
#include <ocfs2-kernel/kernel-list.h>
#include <ocfs2/byteorder.h>
#include <ocfs2-kernel/ocfs2_fs.h>
typedef long errcode_t; typedef struct x ocfs2_filesys;
#include <ocfs2/image.h>
#define O(s,f) printf("%-28s %-28s 0x%02zx\n", #s, #f, offsetof(struct s, f))
int main(void){
O(ocfs2_dinode,i_signature);O(ocfs2_dinode,i_generation);O(ocfs2_dinode,i_suballoc_slot);O(ocfs2_dinode,i_links_count_hi);
O(ocfs2_dinode,i_xattr_inline_size);O(ocfs2_dinode,i_clusters);O(ocfs2_dinode,i_uid);O(ocfs2_dinode,i_gid);O(ocfs2_dinode,i_size);
O(ocfs2_dinode,i_mode);O(ocfs2_dinode,i_links_count);O(ocfs2_dinode,i_flags);O(ocfs2_dinode,i_atime);O(ocfs2_dinode,i_ctime);O(ocfs2_dinode,i_mtime);
O(ocfs2_dinode,i_dtime);O(ocfs2_dinode,i_blkno);O(ocfs2_dinode,i_last_eb_blk);O(ocfs2_dinode,i_fs_generation);O(ocfs2_dinode,i_atime_nsec);
O(ocfs2_dinode,i_ctime_nsec);O(ocfs2_dinode,i_mtime_nsec);O(ocfs2_dinode,i_attr);O(ocfs2_dinode,i_orphaned_slot);O(ocfs2_dinode,i_dyn_features);
O(ocfs2_dinode,i_xattr_loc);O(ocfs2_dinode,i_check);O(ocfs2_dinode,i_dx_root);O(ocfs2_dinode,i_refcount_loc);O(ocfs2_dinode,i_suballoc_loc);
O(ocfs2_dinode,id1);O(ocfs2_dinode,id2);
O(ocfs2_super_block,s_major_rev_level);O(ocfs2_super_block,s_feature_compat);O(ocfs2_super_block,s_feature_incompat);O(ocfs2_super_block,s_feature_ro_compat);
O(ocfs2_super_block,s_root_blkno);O(ocfs2_super_block,s_system_dir_blkno);O(ocfs2_super_block,s_blocksize_bits);O(ocfs2_super_block,s_clustersize_bits);
O(ocfs2_super_block,s_max_slots);O(ocfs2_super_block,s_first_cluster_group);O(ocfs2_super_block,s_label);O(ocfs2_super_block,s_uuid);O(ocfs2_super_block,s_cluster_info);O(ocfs2_super_block,s_xattr_inline_size);O(ocfs2_super_block,s_dx_seed);
O(ocfs2_extent_list,l_tree_depth);O(ocfs2_extent_list,l_count);O(ocfs2_extent_list,l_next_free_rec);O(ocfs2_extent_list,l_recs);
O(ocfs2_extent_rec,e_cpos);O(ocfs2_extent_rec,e_int_clusters);O(ocfs2_extent_rec,e_leaf_clusters);O(ocfs2_extent_rec,e_flags);O(ocfs2_extent_rec,e_blkno);
O(ocfs2_extent_block,h_signature);O(ocfs2_extent_block,h_check);O(ocfs2_extent_block,h_suballoc_slot);O(ocfs2_extent_block,h_fs_generation);O(ocfs2_extent_block,h_blkno);O(ocfs2_extent_block,h_next_leaf_blk);O(ocfs2_extent_block,h_list);
O(ocfs2_inline_data,id_count);O(ocfs2_inline_data,id_data);
O(ocfs2_dir_entry,inode);O(ocfs2_dir_entry,rec_len);O(ocfs2_dir_entry,name_len);O(ocfs2_dir_entry,file_type);O(ocfs2_dir_entry,name);
O(ocfs2_dir_block_trailer,db_signature);O(ocfs2_dir_block_trailer,db_blkno);O(ocfs2_dir_block_trailer,db_parent_dinode);O(ocfs2_dir_block_trailer,db_check);
O(ocfs2_xattr_block,xb_signature);O(ocfs2_xattr_block,xb_fs_generation);O(ocfs2_xattr_block,xb_blkno);O(ocfs2_xattr_block,xb_check);O(ocfs2_xattr_block,xb_flags);O(ocfs2_xattr_block,xb_attrs);
O(ocfs2_xattr_header,xh_count);O(ocfs2_xattr_header,xh_num_buckets);O(ocfs2_xattr_header,xh_check);O(ocfs2_xattr_header,xh_entries);
O(ocfs2_xattr_entry,xe_name_hash);O(ocfs2_xattr_entry,xe_name_offset);O(ocfs2_xattr_entry,xe_name_len);O(ocfs2_xattr_entry,xe_type);O(ocfs2_xattr_entry,xe_value_size);
O(ocfs2_xattr_value_root,xr_clusters);O(ocfs2_xattr_value_root,xr_list);O(ocfs2_xattr_tree_root,xt_list);
O(ocfs2_dx_root_block,dr_signature);O(ocfs2_dx_root_block,dr_check);O(ocfs2_dx_leaf,dl_signature);O(ocfs2_dx_leaf,dl_check);
O(ocfs2_image_hdr,hdr_version);O(ocfs2_image_hdr,hdr_fsblkcnt);O(ocfs2_image_hdr,hdr_imgblkcnt);O(ocfs2_image_hdr,hdr_bmpblksz);O(ocfs2_image_hdr,hdr_superblkcnt);O(ocfs2_image_hdr,hdr_superblocks);
O(ocfs2_group_desc,bg_check);O(ocfs2_refcount_block,rf_check);
printf("sizes dirent %zu trailer %zu xentry %zu xheader %zu exrec %zu\n", sizeof(struct ocfs2_dir_entry), sizeof(struct ocfs2_dir_block_trailer), sizeof(struct ocfs2_xattr_entry), sizeof(struct ocfs2_xattr_header), sizeof(struct ocfs2_extent_rec));
}
