import { defaultShellPaths, startCustos } from './custos-app';

startCustos(defaultShellPaths(__dirname));
