"""`heads finetune`: reopen the top blocks of a dense head's backbone and train them with the head.

run.py orchestrates; network.py builds the model, data.py gathers what it trains on, train.py
trains and scores, record.py publishes the head folder. The fitted head is a kind like the
others (heads.kinds.finetune): eval, predict and export use it through the common path.
"""
