"""The built-in model plugins (hrm, looped_transformer, transformer alias baseline, trm, dt_net), one
module each, all built from `looped_hrm.nn` and registered through the ``looped_hrm`` entry-point group."""
