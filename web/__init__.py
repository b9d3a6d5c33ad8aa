"""The people's pages (L1-L3), served by `yotqa web`."""
