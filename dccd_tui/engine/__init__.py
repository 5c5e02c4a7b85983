"""The backfill engine. It never imports textual or rich: a plain script can drive it."""
