"""Data files shipped with synthreid: presets (TOML), palettes, catalogs, gait keyframes."""
