"""The training toolkit: layers (`gn.nn`), initializers (`gn.init`), optimizers (`gn.optim`), the fit loop
(`gn.train`), data batching, monitors, history and checkpoints. User level: may import anything in graphnn."""
