"""Worker time: planning, delivering and finishing accepted sends."""
