import EpsimCore
