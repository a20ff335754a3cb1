# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
