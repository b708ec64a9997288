"""Files in and out: images, streamed big PNGs, atomic writes and run folders, content photos, bundled networks, plots."""
