import LibPQ
