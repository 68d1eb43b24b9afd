"""snnTorch's AssociativeLeaky, whose matrix state decays per key and is written by outer products:
`naive.py` holds its oracle (`tritonsnn.reference.associative_leaky`), a plain loop over the steps.
The module (`tritonsnn.associative`) scans the states in chunks with torch ops; there is no
kernel yet.
"""
