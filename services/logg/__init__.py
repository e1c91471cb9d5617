"""logg: the store of stafettlogger. Holds ciphertext, participants and key grants; decides access."""
